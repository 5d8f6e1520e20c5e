"""Models the tests run against."""

from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models

from django_async_backend.db.models.base import AsyncModelMixin
from django_async_backend.db.models.manager import AsyncManager


class Publisher(models.Model):
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["id"]


class Author(models.Model):
    name = models.CharField(max_length=100)
    publisher = models.ForeignKey(
        Publisher, null=True, on_delete=models.SET_NULL, related_name="authors"
    )

    class Meta:
        ordering = ["id"]


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]


class Note(models.Model):
    """Attached to anything through a generic foreign key."""

    text = models.CharField(max_length=100)
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveIntegerField()
    content_object = GenericForeignKey("content_type", "object_id")

    class Meta:
        ordering = ["id"]


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(
        Author, null=True, on_delete=models.CASCADE, related_name="books"
    )
    pages = models.IntegerField(default=0)
    published = models.DateField(null=True)
    tags = models.ManyToManyField(Tag, related_name="books")
    notes = GenericRelation(Note)

    class Meta:
        ordering = ["id"]


class Chapter(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="chapters")
    title = models.CharField(max_length=100)

    class Meta:
        ordering = ["id"]


class Unique(models.Model):
    code = models.CharField(max_length=20, unique=True)


class Event(models.Model):
    name = models.CharField(max_length=50)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at"]


# Multi-table inheritance.
class Place(models.Model):
    name = models.CharField(max_length=50)


class Restaurant(Place):
    serves_pizza = models.BooleanField(default=False)


# Every on_delete behaviour, pointing at one target.
def default_target_pk():
    return Target.objects.get_or_create(name="default")[0].pk


def replacement_target():
    return Target.objects.get_or_create(name="replacement")[0]


class Target(models.Model):
    name = models.CharField(max_length=50)


class OnDelete(models.Model):
    cascade = models.ForeignKey(
        Target, null=True, on_delete=models.CASCADE, related_name="+"
    )
    protect = models.ForeignKey(
        Target, null=True, on_delete=models.PROTECT, related_name="+"
    )
    restrict = models.ForeignKey(
        Target, null=True, on_delete=models.RESTRICT, related_name="+"
    )
    set_null = models.ForeignKey(
        Target, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    set_default = models.ForeignKey(
        Target,
        null=True,
        default=default_target_pk,
        on_delete=models.SET_DEFAULT,
        related_name="+",
    )
    set_value = models.ForeignKey(
        Target, null=True, on_delete=models.SET(replacement_target), related_name="+"
    )
    do_nothing = models.ForeignKey(
        Target,
        null=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
    )


class AuditLog(models.Model):
    message = models.CharField(max_length=200)


class AuditedAuthor(models.Model):
    """Code that isn't ours: a custom save() using the sync ORM."""

    name = models.CharField(max_length=100)

    def save(self, *args, **kwargs):
        creating = self._state.adding
        super().save(*args, **kwargs)
        AuditLog.objects.create(
            message=f"{'created' if creating else 'saved'} {self.name}"
        )


class UpstreamStyleBook(AsyncModelMixin, models.Model):
    """Declared the way the upstream project's README does."""

    name = models.CharField(max_length=100)


class UpstreamManagerBook(models.Model):
    """Declares the manager itself, as the upstream docs' "Managers" show."""

    id = models.AutoField(primary_key=True)
    name = models.CharField(max_length=100)

    async_objects = AsyncManager()


class OwnAsyncApi(models.Model):
    """Defines names of the upstream model API itself: it keeps its own."""

    name = models.CharField(max_length=100)

    objects = models.Manager()
    async_objects = models.Manager()

    async def async_save(self, *args, **kwargs):
        self.name = f"saved by its own async_save: {self.name}"
        await self.asave(*args, **kwargs)


# Custom on_delete handlers: async ones as upstream requires them, and a
# sync one (Django's kind).
async def detach_and_log(collector, field, sub_objs, using):
    names = sorted([pet.name async for pet in sub_objs])
    await AuditLog.objects.acreate(message=f"detached {', '.join(names)}")
    collector.add_field_update(field, None, sub_objs)


async def cascade_through_collector(collector, field, sub_objs, using):
    await collector.collect(
        sub_objs,
        source=field.remote_field.model,
        source_attr=field.name,
        nullable=field.null,
        fail_on_restricted=False,
    )


def detach(collector, field, sub_objs, using):
    collector.add_field_update(field, None, sub_objs)


class Owner(models.Model):
    name = models.CharField(max_length=50)


class PetQuerySet(models.QuerySet):
    def named(self, name):
        return self.filter(name=name)


class Pet(models.Model):
    name = models.CharField(max_length=50)
    owner = models.ForeignKey(
        Owner, null=True, on_delete=detach_and_log, related_name="pets"
    )
    keeper = models.ForeignKey(
        Owner, null=True, on_delete=cascade_through_collector, related_name="kept"
    )
    walker = models.ForeignKey(
        Owner, null=True, on_delete=detach, related_name="walked"
    )

    objects = PetQuerySet.as_manager()

    class Meta:
        ordering = ["id"]


# Meta options upstream's docs say async_save() honours.
class Recipe(AsyncModelMixin, models.Model):
    name = models.CharField(max_length=50)

    class Meta:
        select_on_save = True


class Step(AsyncModelMixin, models.Model):
    recipe = models.ForeignKey(Recipe, on_delete=models.CASCADE, related_name="steps")
    text = models.CharField(max_length=50)

    class Meta:
        order_with_respect_to = "recipe"
