"""Test and benchmark helpers that ship with spp (so downstream users can test their own pipelines offline)."""
