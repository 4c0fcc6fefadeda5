"""click's own usage errors, with URL passwords masked.

click and typer print the errors of parsing themselves ("Invalid value for '--max-polecats':
'https://user:TOKEN@…'", "Got unexpected extra argument (…)"), echoing the value they
refused; those never pass through our one renderer (`session.say_error`). The root group of
each entry point masks them on their way out, so a credential typed into the wrong place is
not handed back either.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# typer vendors click (typer._click): its exceptions and Context are these, not `click`'s.
from typer import _click
from typer.core import TyperGroup


@contextmanager
def _masked() -> Iterator[None]:
    try:
        yield
    except _click.ClickException as error:
        from gastown.cli.output import mask_url_passwords

        # `message` is typed Final; the exception is ours to reword before it is shown.
        setattr(error, "message", mask_url_passwords(error.message))  # noqa: B010
        raise


class MaskingGroup(TyperGroup):
    """A Typer root group whose parsing errors (its own and every subcommand's) are masked."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: _click.Context | None = None,
        **extra: Any,
    ) -> _click.Context:
        with _masked():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: _click.Context) -> Any:
        with _masked():
            return super().invoke(ctx)
