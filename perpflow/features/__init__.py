"""perpflow.features"""
