"""perpflow.venue"""
