"""Tests of the sandbox: the five simulated APIs over real HTTP."""
