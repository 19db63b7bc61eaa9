"""Operator commands that work against a deployed stack and against `make run`'s moto alike."""
