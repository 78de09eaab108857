"""goldfish-backend-aws: ``s3://`` storage (S3 and S3-compatible stores such as MinIO or R2) and
an ``ec2`` compute backend that is a stub: its profiles validate, its runs stop at preflight.

Nothing here imports boto3 until an ``s3://`` object is touched (see :mod:`goldfish_aws.plugin`).
"""
