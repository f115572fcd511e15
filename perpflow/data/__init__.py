"""perpflow.data"""
