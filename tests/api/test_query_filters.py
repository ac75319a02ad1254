"""Kestra's `filters[field][OP]=value` syntax: parsed exactly, or refused naming the parameter.

The reference is Kestra's `QueryFilterFormatBinder` and `QueryFilter` (webserver and core
of kestra-io/kestra) and what its SDK, kestrapy, sends.
"""

from __future__ import annotations

import pytest

from kestrad.api.errors import ApiError
from kestrad.api.query_filters import MAX_FILTERS, parse_filters
from kestrad.model.query import Filter, Op, Resource


def parse(*pairs: tuple[str, str], resource: Resource = Resource.EXECUTION):
    return parse_filters(pairs, resource)


def refused(*pairs: tuple[str, str], resource: Resource = Resource.EXECUTION) -> ApiError:
    with pytest.raises(ApiError) as info:
        parse(*pairs, resource=resource)
    return info.value


def test_plain_filters_are_anded_and_other_parameters_left_alone() -> None:
    query = parse(
        ("filters[namespace][PREFIX]", "company.team"),
        ("filters[state][IN]", "FAILED,KILLED"),
        ("page", "1"),
        ("size", "10"),
    )
    assert query.filters == [
        Filter(field="namespace", op=Op.PREFIX, value="company.team"),
        Filter(field="state", op=Op.IN, value=["FAILED", "KILLED"]),
    ]
    assert not query.groups
    assert query.equals("namespace") is None


def test_in_lists_lose_their_brackets_and_blanks() -> None:
    query = parse(("filters[state][NOT_IN]", "[ SUCCESS , WARNING ,]"))
    assert query.filters[0].value == ["SUCCESS", "WARNING"]


def test_labels_merge_into_one_map_per_operation() -> None:
    query = parse(
        ("filters[labels][EQUALS][team]", "data"),
        ("filters[labels][EQUALS][env]", "prod"),
        ("filters[labels][NOT_EQUALS][tier]", "low"),
    )
    assert query.filters == [
        Filter(field="labels", op=Op.EQUALS, value={"team": "data", "env": "prod"}),
        Filter(field="labels", op=Op.NOT_EQUALS, value={"tier": "low"}),
    ]


def test_or_groups_keep_their_members_in_index_order() -> None:
    query = parse(
        ("filters[or][1][flowId][EQUALS]", "b"),
        ("filters[or][0][flowId][EQUALS]", "a"),
        ("filters[or][0][state][EQUALS]", "FAILED"),
        ("filters[namespace][EQUALS]", "ns"),
    )
    assert query.filters == [Filter(field="namespace", op=Op.EQUALS, value="ns")]
    (group,) = query.groups
    assert group.members == [
        [
            Filter(field="flowId", op=Op.EQUALS, value="a"),
            Filter(field="state", op=Op.EQUALS, value="FAILED"),
        ],
        [Filter(field="flowId", op=Op.EQUALS, value="b")],
    ]


def test_and_groups_are_plain_filters() -> None:
    query = parse(("filters[and][0][flowId][EQUALS]", "a"))
    assert query.filters == [Filter(field="flowId", op=Op.EQUALS, value="a")]
    assert query.equals("flowId") == "a"


def test_unknown_field_or_operation_is_a_422_naming_the_parameter() -> None:
    error = refused(("filters[bogus][EQUALS]", "x"))
    assert error.status == 422 and "filters[bogus][EQUALS]" in error.message
    error = refused(("filters[namespace][LIKE]", "x"))
    assert error.status == 422 and "unknown operation `LIKE`" in error.message


def test_a_field_the_resource_does_not_have_or_a_wrong_operation_is_a_400() -> None:
    error = refused(("filters[level][GREATER_THAN_OR_EQUAL_TO]", "INFO"))
    assert error.status == 400 and "executions cannot be filtered on `level`" in error.message
    error = refused(("filters[namespace][GREATER_THAN]", "a"))
    assert error.status == 400 and "does not take GREATER_THAN" in error.message
    error = refused(("filters[state][CONTAINS]", "FAIL"))
    assert error.status == 400
    # the same field is fine where the resource has it
    assert parse(("filters[level][GREATER_THAN_OR_EQUAL_TO]", "WARN"), resource=Resource.LOG)


@pytest.mark.parametrize(
    "key",
    [
        "filters[namespace]",
        "filters[]",
        "filters[namespace][EQUALS][x][y]",
        "filters[[namespace]][EQUALS]",
        "filters[or][x][flowId][EQUALS]",
        "filters[or][0][or][0][flowId][EQUALS]",
        "filters[or][12345][flowId][EQUALS]",
        "filters[namespace][EQUALS]junk",
        "filters",
    ],
)
def test_malformed_keys_are_refused_never_ignored(key: str) -> None:
    error = refused((key, "x"))
    assert error.status in (400, 422)
    assert key in error.message


def test_a_key_on_a_field_other_than_labels_is_refused() -> None:
    assert refused(("filters[namespace][EQUALS][k]", "x")).status == 400
    assert refused(("filters[labels][EQUALS][]", "x")).status == 400


def test_hostile_sizes_are_bounded() -> None:
    many = [("filters[namespace][EQUALS]", str(i)) for i in range(MAX_FILTERS + 1)]
    assert "more than" in refused(*many).message
    huge = ",".join(str(i) for i in range(5000))
    assert "more than" in refused(("filters[state][IN]", huge)).message
    assert refused(("filters[state][IN]", " , ,")).status == 400


def test_operations_are_case_insensitive_as_the_sdk_may_send_them() -> None:
    assert parse(("filters[flowId][equals]", "a")).filters[0].op == Op.EQUALS
