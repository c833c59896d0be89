"""Cluster-role checks. Heavy clients (kubernetes, pymysql, boto3) are imported inside run()."""
