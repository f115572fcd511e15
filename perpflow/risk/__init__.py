"""perpflow.risk"""
