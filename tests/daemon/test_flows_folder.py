"""The flows folder as users treat it: files dropped, edited, broken, moved and deleted."""

from __future__ import annotations

import os
import signal

from .helpers import Daemon, StoreView, wait_until


def flow(flow_id: str, message: str = "hello", namespace: str = "tests.folder") -> str:
    return (
        f"id: {flow_id}\nnamespace: {namespace}\ntasks:\n"
        f"  - id: say\n    type: io.kestra.plugin.core.log.Log\n    message: {message}\n"
    )


def revision_is(view: StoreView, flow_id: str, revision: int, *, disabled: bool = False):
    def check() -> bool:
        state = view.flow("tests.folder", flow_id)
        return state is not None and (state.revision, state.disabled) == (revision, disabled)

    return check


def test_drop_edit_break_fix_delete_and_restore(daemon: Daemon, view: StoreView) -> None:
    daemon.start()
    path = daemon.write_flow("greet.yml", flow("greet", "one"))
    wait_until(revision_is(view, "greet", 1), what="the dropped file")

    daemon.write_flow("greet.yml", flow("greet", "two"))  # editor: temp file + rename
    wait_until(revision_is(view, "greet", 2), what="the atomic save")

    daemon.write_flow("greet.yml", flow("greet", "three"), atomic=False)  # in place
    wait_until(revision_is(view, "greet", 3), what="the in-place write")

    broken = flow("greet", "four").replace("tasks:", "tasks: [")
    daemon.write_flow("greet.yml", broken)
    log = daemon.wait_log("not loaded")
    assert f"{path}:" in log and "keeping revision 3 of tests.folder/greet" in log
    # The same broken content seen again (a touch, a rescan) is not reported again.
    daemon.write_flow("greet.yml", broken, atomic=False)
    daemon.write_flow("other.yml", flow("other"))  # a later event proves the touch was handled
    wait_until(revision_is(view, "other", 1), what="the next file")
    assert daemon.log().count("not loaded") == 1
    assert view.flow("tests.folder", "greet").revision == 3  # the last good one still runs
    assert not view.flow("tests.folder", "greet").disabled

    daemon.write_flow("greet.yml", flow("greet", "five"))
    wait_until(revision_is(view, "greet", 4), what="the fixed file")

    path.unlink()
    wait_until(revision_is(view, "greet", 4, disabled=True), what="the deletion")
    assert "tests.folder/greet disabled" in daemon.log()

    daemon.write_flow("greet.yml", flow("greet", "five"))  # same content back: same revision
    wait_until(revision_is(view, "greet", 4), what="the restored file")
    assert daemon.stop() == 0


def test_identity_is_in_the_yaml_not_the_file_name(daemon: Daemon, view: StoreView) -> None:
    daemon.start()
    daemon.write_flow("a.yml", flow("moving"))
    wait_until(revision_is(view, "moving", 1), what="the first file")

    os.rename(daemon.flows / "a.yml", daemon.flows / "b.yml")
    wait_until(lambda: (view.flow("tests.folder", "moving").file or "").endswith("b.yml"))
    (daemon.flows / "nested" / "deeper").mkdir(parents=True)
    os.rename(daemon.flows / "b.yml", daemon.flows / "nested" / "deeper" / "c.yaml")
    wait_until(lambda: (view.flow("tests.folder", "moving").file or "").endswith("c.yaml"))
    state = view.flow("tests.folder", "moving")
    assert (state.revision, state.disabled) == (1, False)  # moved, not a new flow

    # A folder moved out of the tree takes its flows with it.
    os.rename(daemon.flows / "nested", daemon.tmp / "elsewhere")
    wait_until(revision_is(view, "moving", 1, disabled=True), what="the folder moved out")
    assert daemon.stop() == 0


def test_two_files_declaring_one_flow(daemon: Daemon, view: StoreView) -> None:
    daemon.start()
    first = daemon.write_flow("first.yml", flow("twin", "first"))
    wait_until(revision_is(view, "twin", 1), what="the first file")
    second = daemon.write_flow("second.yml", flow("twin", "second"))
    log = daemon.wait_log("already declared by")
    assert f"{second} declares tests.folder/twin, already declared by {first}" in log
    assert view.flow("tests.folder", "twin").revision == 1  # the second one is refused

    first.unlink()  # the refused file takes over, the flow is never disabled
    wait_until(revision_is(view, "twin", 2), what="the takeover")
    assert view.flow("tests.folder", "twin").file == str(second)
    assert "tests.folder/twin disabled" not in daemon.log()
    assert daemon.stop() == 0


def test_start_reconciles_changes_made_while_stopped(daemon: Daemon, view: StoreView) -> None:
    daemon.write_flow("kept.yml", flow("kept"))
    daemon.write_flow("edited.yml", flow("edited", "before"))
    daemon.write_flow("removed.yml", flow("removed"))
    daemon.start()
    for flow_id in ("kept", "edited", "removed"):
        wait_until(revision_is(view, flow_id, 1), what=flow_id)
    assert daemon.stop() == 0

    daemon.write_flow("edited.yml", flow("edited", "after"))
    (daemon.flows / "removed.yml").unlink()
    daemon.write_flow("sub/added.yml", flow("added"))
    daemon.start()  # READY comes after the reconcile
    assert view.flow("tests.folder", "kept").revision == 1
    assert view.flow("tests.folder", "edited").revision == 2
    assert view.flow("tests.folder", "removed").disabled
    assert view.flow("tests.folder", "added").revision == 1
    assert daemon.stop() == 0


def test_sighup_reconciles_without_a_watcher(daemon: Daemon, view: StoreView) -> None:
    daemon.write_config(flows__watch=False)
    daemon.write_flow("hup.yml", flow("hup", "one"))
    daemon.start()
    wait_until(revision_is(view, "hup", 1), what="the first reconcile")
    daemon.write_flow("hup.yml", flow("hup", "two"))
    daemon.write_flow("late.yml", flow("late"))

    notify = daemon.notify
    assert notify is not None
    seen = len(notify.poll())
    daemon.signal(signal.SIGHUP)
    index, reloading = notify.wait_for("RELOADING", "1", after=seen)
    assert reloading["MONOTONIC_USEC"].isdigit()  # in the same datagram, as systemd requires
    notify.wait_for("READY", "1", after=index + 1)
    assert view.flow("tests.folder", "hup").revision == 2
    assert view.flow("tests.folder", "late").revision == 1
    assert daemon.stop() == 0


def test_removing_the_folder_stops_the_daemon_loudly(daemon: Daemon) -> None:
    daemon.start()
    daemon.flows.rename(daemon.tmp / "gone")
    assert daemon.wait() == 1
    assert "was removed" in daemon.log()


def test_periodic_rescan_heals_missed_events(daemon: Daemon, view: StoreView) -> None:
    daemon.write_config(flows__watch=False, flows__rescan_interval="PT0.2S")
    daemon.start()
    daemon.write_flow("bad.yml", "id: bad\nnamespace: tests.folder\ntasks: [\n")
    daemon.write_flow("late.yml", flow("late"))  # no watcher: only a rescan can see these
    wait_until(revision_is(view, "late", 1), what="the rescan")
    daemon.wait_log("not loaded")
    daemon.write_flow("later.yml", flow("later"))
    wait_until(revision_is(view, "later", 1), what="a later rescan")
    assert daemon.log().count("not loaded") == 1  # reported once, not at every rescan
    assert daemon.stop() == 0


def test_a_wrongly_typed_revision_never_replaces_the_running_one(
    daemon: Daemon, view: StoreView
) -> None:
    """Issue 11 item 8: `Sleep.duration: [1, 2]` used to load, replace the good revision
    and fail at run time; it is refused at load and the good revision keeps running."""
    sleep = (
        "id: napper\nnamespace: tests.folder\ntasks:\n"
        "  - id: nap\n    type: io.kestra.plugin.core.flow.Sleep\n    duration: {}\n"
    )
    daemon.start()
    path = daemon.write_flow("napper.yml", sleep.format("PT0.01S"))
    wait_until(revision_is(view, "napper", 1), what="the good revision")
    daemon.write_flow("napper.yml", sleep.format("[1, 2]"))
    log = daemon.wait_log("not loaded")
    assert f"{path}:6:15: tasks[0].duration: `duration` must be an ISO-8601 duration" in log
    assert "keeping revision 1 of tests.folder/napper" in log
    assert view.flow("tests.folder", "napper").revision == 1
    assert daemon.stop() == 0
