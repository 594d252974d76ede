"""Django database backends whose connections come from a pool.

ENGINE paths mirror Django's own: ``django.db.backends.postgresql`` becomes
``django_multipool.backends.postgresql``.
"""
