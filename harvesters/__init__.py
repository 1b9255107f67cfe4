"""Fetch and decode partner records: MARC files, OAI-PMH, course feeds.

Nothing here touches the database or the catalogue; a harvester turns a
source into a stream of pages, and the pool stores each page with its
checkpoint in one transaction.
"""
