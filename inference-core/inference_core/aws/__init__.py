"""Adapters for AWS: one module per service (SNS, SQS, S3), plus provisioning."""
