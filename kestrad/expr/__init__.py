"""Kestra expressions (Pebble dialect) rendered with a sandboxed Jinja2."""

from kestrad.expr.engine import ExpressionError, Renderer, is_template, truthy

__all__ = ["ExpressionError", "Renderer", "is_template", "truthy"]
