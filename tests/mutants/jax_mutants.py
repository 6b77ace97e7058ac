"""stub"""
MUTANTS = ()
