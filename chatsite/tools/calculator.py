"""Arithmetic for the calculator tool, evaluated from Python's syntax tree: never eval().

Only numbers, the usual operators and a few math functions are accepted, and every step is
bounded, so "9**9**9" or a thousand nested factorials are refused instead of freezing a worker.
"""

import ast
import math
import operator

MAX_EXPRESSION = 500  # characters
MAX_INT_BITS = 4096  # integers beyond this (about 1,200 digits) are refused
MAX_EXPONENT = 10_000
MAX_DIGITS = 100  # round(x, n): Python computes 10**|n|, so a huge n would hang the server

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "floor": math.floor,
    "ceil": math.ceil,
}
_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}


class CalculationError(ValueError):
    pass


def calculate(expression: str) -> int | float:
    """The value of an arithmetic expression such as "2 * (3 + 4) ** 2 / sqrt(16)"."""
    if not isinstance(expression, str) or not expression.strip():
        raise CalculationError("The expression is empty.")
    if len(expression) > MAX_EXPRESSION:
        raise CalculationError(f"The expression is longer than {MAX_EXPRESSION} characters.")
    # "^" is what people (and models) write for a power.
    text = expression.replace("^", "**").replace("×", "*").replace("÷", "/")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise CalculationError("This is not an arithmetic expression.") from None
    try:
        return _value(tree.body)
    except ZeroDivisionError:
        raise CalculationError("Division by zero.") from None
    except (OverflowError, MemoryError):
        raise CalculationError("The result is too large.") from None
    except (ValueError, TypeError) as error:
        if isinstance(error, CalculationError):
            raise
        raise CalculationError(f"Not defined: {error}.") from None


def _value(node: ast.AST) -> int | float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _bounded(node.value)
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_value(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise CalculationError("The exponent is too large.")
        if isinstance(node.op, ast.Pow) and isinstance(left, int) and isinstance(right, int) and right > 0:
            # Check the size before computing: 10**9999 alone is fine, 99**9999 is not.
            if abs(left) > 1 and right * abs(left).bit_length() > MAX_INT_BITS:
                raise CalculationError("The result is too large.")
        return _bounded(_BINARY[type(node.op)](left, right))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
        and 0 < len(node.args) <= 8
    ):
        args = [_value(arg) for arg in node.args]
        if node.func.id == "round" and len(args) > 1 and (not isinstance(args[1], int) or abs(args[1]) > MAX_DIGITS):
            raise CalculationError(f"round() takes a whole number of digits up to {MAX_DIGITS}.")
        return _bounded(_FUNCTIONS[node.func.id](*args))
    if isinstance(node, ast.Name):
        raise CalculationError(f"Unknown name: {node.id}.")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in _FUNCTIONS:
        raise CalculationError(f"Unknown function: {node.func.id}.")
    raise CalculationError("Only numbers, + - * / // % ** ( ) and math functions are allowed.")


def _bounded(value: object) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CalculationError("Only numbers are allowed.")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise CalculationError("The result is too large.")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculationError("The result is not a finite number.")
    return value


def format_number(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)
