"""perpflow.labels"""
