"""Store-credit domain: money, lots, the wallet ledger and its DynamoDB store.

Kept import-light on purpose: every Lambda imports this package on cold start, so
submodules pull in boto3 or Powertools only where they are used.
"""
