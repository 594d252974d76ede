"""Tests that only pass when each one runs on its own test database, from the pool."""

import os

from django.db import ProgrammingError, connection, connections
from django.test import TestCase, TransactionTestCase

from .models import Item
from .runner import server_database


class RunsOnTheTestDatabase(TestCase):
    databases = "__all__"

    def test_every_alias_talks_to_its_test_database(self):
        for alias in connections:
            conn = connections[alias]
            real = os.environ[f"MULTIPOOL_REAL_DATABASE_{alias.upper()}"]
            on_server = server_database(conn)
            self.assertNotEqual(on_server.lower(), real.lower())
            # In a parallel worker NAME is the worker's clone (test_x_1, ...).
            self.assertEqual(on_server.lower(), conn.settings_dict["NAME"].lower())

    def test_connections_come_from_the_pool(self):
        connection.ensure_connection()
        self.assertIsNotNone(connection.pool)
        self.assertGreaterEqual(connection.pool.stats().requests_num, 1)

    def test_migration_data_is_there(self):
        self.assertTrue(Item.objects.filter(name="seeded").exists())


class SerializedRollback(TransactionTestCase):
    serialized_rollback = True
    databases = "__all__"

    def test_1_wipe_the_table(self):
        self.assertTrue(Item.objects.filter(name="seeded").exists())
        Item.objects.all().delete()

    def test_2_rows_were_restored(self):
        self.assertTrue(Item.objects.filter(name="seeded").exists())
        self.assertEqual(
            server_database(connection).lower(), connection.settings_dict["NAME"].lower()
        )


class WritesInParallel(TestCase):
    def test_writes_are_isolated(self):
        Item.objects.create(name="parallel-a")
        self.assertEqual(Item.objects.count(), 2)

    def test_other_writes_are_isolated(self):
        Item.objects.create(name="parallel-b")
        self.assertEqual(Item.objects.count(), 2)


class AtomicAndClose(TransactionTestCase):
    def test_close_inside_atomic_rolls_back(self):
        from django.db import transaction

        with self.assertRaises(ProgrammingError), transaction.atomic():
            Item.objects.create(name="never")
            connection.close()
            Item.objects.count()  # "Cannot open a new connection in an atomic block."
        self.assertFalse(Item.objects.filter(name="never").exists())


class ReleaseModes(TransactionTestCase):
    """OPTIONS["pool"]["release"]: the connection between statements, and in a TestCase."""

    def test_between_statements(self):
        count = Item.objects.count()
        if connection.pool_config.release == "transaction":
            self.assertIsNone(connection.connection)  # back in the pool
            self.assertEqual(Item.objects.count(), count)  # and taken again
        else:
            self.assertIsNotNone(connection.connection)


class ReleaseInsideTestCase(TestCase):
    def test_the_test_transaction_holds_the_connection(self):
        # TestCase wraps each test in atomic(): nothing is released inside it.
        Item.objects.create(name="in-test")
        self.assertIsNotNone(connection.connection)
        self.assertTrue(Item.objects.filter(name="in-test").exists())
