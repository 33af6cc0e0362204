"""Unit tests of the rpn program as built (RPN_BIN) and of its Python reference."""
