"""The logs tab: 10 000 lines drawn in batches, filters over all of them, and a stream
that resumes after the daemon restarts without a gap or a repeated line."""

from __future__ import annotations

import pytest

from .webui_support import Server


def _expect():
    from playwright.sync_api import expect

    return expect


MANY = 10_000
MANY_LINES = (
    "id: many_lines\nnamespace: webui.logs\ntasks:\n  - id: shout\n"
    "    type: io.kestra.plugin.core.log.Log\n    message:\n"
    + "".join(f'      - "line {i:05d}"\n' for i in range(MANY))
)
RESTART = """
id: across_restart
namespace: webui.logs
tasks:
  - id: before
    type: io.kestra.plugin.core.log.Log
    message: before the restart
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT4S
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: after the restart
"""


@pytest.fixture(scope="module")
def logs_flows(server: Server) -> Server:
    for source in (MANY_LINES, RESTART):
        server.api_yaml("POST", "/flows", source)
    return server


def test_ten_thousand_lines_are_drawn_in_batches(page, logs_flows: Server) -> None:
    expect = _expect()
    server = logs_flows
    created = server.api("POST", "/executions/webui.logs/many_lines", None)
    server.wait_state(created["id"], {"SUCCESS"}, timeout=120)
    page.add_init_script(
        """
        window.__batches = [];
        new MutationObserver((records) => {
          for (const r of records) {
            if (r.target.classList && r.target.classList.contains('logs') && r.addedNodes.length)
              window.__batches.push(r.addedNodes.length);
          }
        }).observe(document, {childList: true, subtree: true});
        """
    )
    page.goto(f"/ui/executions/{created['id']}?tab=logs")
    expect(page.locator("[data-log-viewer] .count")).to_have_text(
        f"{MANY} of {MANY} lines", timeout=60_000
    )
    batches = page.evaluate("() => window.__batches")
    assert sum(batches) == MANY
    assert len(batches) >= MANY // 500 and max(batches) <= 500, batches[:5]
    page.locator("[name=search]").fill("line 09999")
    expect(page.locator(".logs .line")).to_have_count(1)
    page.locator("[name=search]").fill("")
    page.locator("[name=level]").select_option("WARN")
    expect(page.locator(".logs .line")).to_have_count(0)


def test_the_stream_resumes_after_a_restart_without_gap_or_repeat(page, logs_flows: Server) -> None:
    expect = _expect()
    server = logs_flows
    created = server.api("POST", "/executions/webui.logs/across_restart", None)
    page.goto(f"/ui/executions/{created['id']}?tab=logs")
    lines = page.locator(".logs .line .msg")
    expect(lines.filter(has_text="before the restart")).to_have_count(1)
    server.stop()  # SSE streams end; the browser reconnects with Last-Event-ID
    server.start()
    expect(lines.filter(has_text="after the restart")).to_have_count(1, timeout=60_000)
    server.wait_state(created["id"], {"SUCCESS"}, timeout=60)
    texts = lines.all_inner_texts()
    assert texts.count("before the restart") == 1
    assert texts.count("after the restart") == 1


WIDE = """
id: wide
namespace: webui.logs
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: "{{ range(1, 1000) }}"
    concurrencyLimit: 0
    tasks:
      - id: say
        type: io.kestra.plugin.core.output.OutputValues
        values:
          n: "{{ taskrun.value }}"
"""


def test_an_execution_of_a_thousand_task_runs_is_usable(page, logs_flows: Server) -> None:
    """1 001 task runs: the Gantt draws a row for each, the topology stays three boxes,
    the outputs tab lists them."""
    expect = _expect()
    server = logs_flows
    server.api_yaml("POST", "/flows", WIDE)
    created = server.api("POST", "/executions/webui.logs/wide", None)
    page.goto(f"/ui/executions/{created['id']}?tab=gantt")
    expect(page.locator("#execution-state .state")).to_have_text("SUCCESS", timeout=180_000)
    expect(page.locator("#gantt .gantt-row")).to_have_count(1001)  # Pebble ranges include their end
    page.get_by_role("tab", name="Topology").click()
    expect(page.locator("#topology .node")).to_have_count(2)
    page.get_by_role("tab", name="Outputs").click()
    expect(page.locator('details[data-task="say"]')).to_have_count(1000)
