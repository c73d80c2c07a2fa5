"""AWS service limits the code relies on, each with the reason it matters."""

# ReceiveMessage, DeleteMessageBatch, ChangeMessageVisibilityBatch and PublishBatch take at most 10 entries.
MAX_BATCH_ENTRIES = 10
# The longest long poll SQS allows; longer waits mean fewer empty receives.
MAX_WAIT_SECONDS = 20
# The largest SNS message (body plus attributes); request text must fit well inside it.
MAX_SNS_MESSAGE_BYTES = 256 * 1024
# The longest visibility timeout SQS accepts.
MAX_VISIBILITY_SECONDS = 12 * 60 * 60
