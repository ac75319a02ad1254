"""An example kestrad task plugin (see the README, "Writing a task plugin")."""

from typing import Any

from kestrad.tasks.base import RunnableTask, TaskFailed


class Greet(RunnableTask, kw_only=True):
    """Greets `name` (rendered) in the log and returns the greeting as `message`."""

    name: str
    greeting: str = "Hello"
    shout: bool = False

    async def run(self, ctx: Any) -> dict[str, Any] | None:
        name = ctx.render(self.name)
        if not name:
            raise TaskFailed("`name` rendered empty")
        message = f"{ctx.render(self.greeting)}, {name}!"
        if self.shout:
            message = message.upper()
        ctx.logger.info(message)
        return {"message": message}
