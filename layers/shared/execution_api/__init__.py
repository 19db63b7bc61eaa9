"""Shared code of the Execution API functions, shipped in the Lambda layer."""
