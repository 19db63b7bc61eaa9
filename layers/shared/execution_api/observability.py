"""Powertools Logger, Tracer and Metrics, one of each per container; configured by POWERTOOLS_* variables."""

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

# A request refused before the plan is read (415, 413, 400) publishes no metric; that is expected.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger()
# Each API function serves one route: its handler's `capture_lambda_handler` traces the route, and
# botocore's calls are subsegments of it. A `capture_method` on the route would repeat that per request.
tracer = Tracer()
metrics = Metrics()
