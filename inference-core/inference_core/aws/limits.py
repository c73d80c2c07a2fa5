"""AWS service limits the code relies on, each with the reason it matters."""

# ReceiveMessage, DeleteMessageBatch, ChangeMessageVisibilityBatch and PublishBatch take at most 10 entries.
MAX_BATCH_ENTRIES = 10
# The longest long poll SQS allows; longer waits mean fewer empty receives.
MAX_WAIT_SECONDS = 20
# The largest SNS message (body plus attributes), and the most one PublishBatch call may carry in all;
# request text must fit well inside it.
MAX_SNS_MESSAGE_BYTES = 256 * 1024
# The largest body the platform builds itself (a batch of answers): the rest is room for the attributes.
MAX_SNS_BODY_BYTES = MAX_SNS_MESSAGE_BYTES - 1024
# The longest visibility timeout SQS accepts.
MAX_VISIBILITY_SECONDS = 12 * 60 * 60
