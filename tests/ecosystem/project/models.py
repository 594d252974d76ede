from django.db import models


class Product(models.Model):
    name = models.CharField(max_length=40, unique=True)
    price_cents = models.IntegerField()


class Order(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE)
    quantity = models.IntegerField()
    #: One per request: a request counts only its own orders.
    tag = models.CharField(max_length=40, db_index=True)
