"""The flows the browser tests run (a folder flow each)."""

GREET = """
id: greet
namespace: webui.tests
description: Greets someone, counting, from a file.
inputs:
  - id: name
    type: STRING
  - id: times
    type: INT
    defaults: 2
  - id: loud
    type: BOOLEAN
    defaults: false
  - id: upload
    type: FILE
    required: false
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "Hello {{ inputs.name }} x{{ inputs.times }} loud={{ inputs.loud }}"
  - id: out
    type: io.kestra.plugin.core.output.OutputValues
    values:
      greeting: "Hello {{ inputs.name }}"
"""

SLOW = """
id: slow
namespace: webui.tests
tasks:
  - id: first
    type: io.kestra.plugin.core.log.Log
    message: "first line"
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT60S
"""

PAUSE = """
id: approval
namespace: webui.tests
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: approved and resumed
"""

FOREACH = """
id: loop
namespace: webui.tests.sub
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: ["a", "b", "c"]
    tasks:
      - id: say
        type: io.kestra.plugin.core.log.Log
        message: "item {{ taskrun.value }}"
      - id: rest
        type: io.kestra.plugin.core.flow.Sleep
        duration: PT0.2S
  - id: done
    type: io.kestra.plugin.core.log.Log
    message: done
"""

CHATTY = """
id: chatty
namespace: webui.tests
tasks:
  - id: lines
    type: io.kestra.plugin.core.flow.ForEach
    values: "{{ range(1, 40) }}"
    tasks:
      - id: line
        type: io.kestra.plugin.core.log.Log
        message: "line {{ taskrun.value }}"
"""

NIGHTLY = """
id: nightly
namespace: webui.tests
triggers:
  - id: hourly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"
    recoverMissedSchedules: NONE
tasks:
  - id: hi
    type: io.kestra.plugin.core.log.Log
    message: nightly
"""

RETRY = """
id: flaky
namespace: webui.tests
tasks:
  - id: flaky
    type: io.kestra.plugin.core.execution.Fail
    retry:
      type: constant
      interval: PT0.1S
      maxAttempts: 3
"""

APPROVAL_INPUTS = """
id: approval_inputs
namespace: webui.tests
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
    onResume:
      - id: approver
        type: STRING
        description: Who approves
      - id: amount
        type: INT
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: "approved by {{ outputs.wait.onResume.approver }} for {{ outputs.wait.onResume.amount }}"
"""

PARENT = """
id: parent
namespace: webui.tests
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: webui.tests
    flowId: greet
    inputs:
      name: from the parent
    wait: true
"""

ALL = {
    "parent": PARENT,
    "approval_inputs": APPROVAL_INPUTS,
    "flaky": RETRY,
    "greet": GREET,
    "slow": SLOW,
    "approval": PAUSE,
    "loop": FOREACH,
    "nightly": NIGHTLY,
}
