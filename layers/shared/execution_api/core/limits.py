"""Every limit of a submission, stated once: the models, the checks, their messages and the settings'
defaults import these.

The configurable ones (MAX_*) are defaults: template.yaml sets each function's variable, and
tests/test_function_settings.py checks the template's values are these. docs/configuration.md lists them all.
"""

# Configurable: MaxJobs, MAX_JOB_PARAMS_BYTES and MAX_BODY_BYTES in template.yaml.
MAX_JOBS = 500
MAX_JOB_PARAMS_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024

# Fixed by the contract.
MAX_JOB_ID_LENGTH = 128
MAX_OPERATION_LENGTH = 64
MAX_WEBHOOK_URL_LENGTH = 2048
MAX_WEBHOOK_SECRET_LENGTH = 512
MAX_IDEMPOTENCY_KEY_LENGTH = 255

# Fixed here: the contract accepts these fields but names no length; each bounds what one request stores.
MAX_OUTPUT_LENGTH = 256  # the SDK's output handle, e.g. "$job1"
MAX_PROVIDER_NAME_LENGTH = 64  # a name in providerApiKeys
MAX_PROVIDER_KEY_LENGTH = 2048

# An output's presigned link (OUTPUT_URL_EXPIRY_SECONDS). SigV4 presigned URLs last at most 7 days; the
# signer's own credentials may end them sooner (docs/api.md).
DEFAULT_URL_EXPIRY_SECONDS = 3600
MIN_URL_EXPIRY_SECONDS = 120
MAX_URL_EXPIRY_SECONDS = 604_800
