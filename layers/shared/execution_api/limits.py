"""Every limit of a submission, stated once: the models, the checks, their messages and the settings'
defaults import these.

The configurable ones (MAX_*) are defaults: template.yaml sets each function's variable, and
tests/test_template.py checks the template's values are these. docs/configuration.md lists them all.
"""

# Configurable: MaxJobs, MAX_JOB_PARAMS_BYTES and MAX_BODY_BYTES in template.yaml.
MAX_JOBS = 500
MAX_JOB_PARAMS_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024

# Fixed by the contract.
MAX_WEBHOOK_URL_LENGTH = 2048
MAX_WEBHOOK_SECRET_LENGTH = 512
MAX_PROVIDER_KEY_LENGTH = 2048
