"""perpflow.validation"""
