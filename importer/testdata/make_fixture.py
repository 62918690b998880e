#!/usr/bin/python3
"""Builds a small Django project with a custom user model and writes its
dumpdata to django_dump.json (and django_dump.json.gz).

    /usr/bin/python3 make_fixture.py     # Debian's python3-django 3.2, python3-argon2, python3-bcrypt

The project: app "accounts" with `User(AbstractUser)` adding `department` and
`employee_no`; app "store" with a Product model (its default permissions and
one custom one). 210 users: user000..user209, password "pw-<n>-secret",
hashed by a rotation of Django's hashers; groups with permissions; per-user
permissions; alice (superuser, pbkdf2_sha256, password "alice-old-password"),
nopass (an unusable password), and ghost (inactive).
"""
import gzip
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
proj = tempfile.mkdtemp(prefix="lk-django-")
for app, models in {
    "accounts": '''from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    department = models.CharField(max_length=50, blank=True)
    employee_no = models.IntegerField(null=True)
''',
    "store": '''from django.db import models


class Product(models.Model):
    name = models.CharField(max_length=50)

    class Meta:
        permissions = [("can_publish_product", "Can publish product")]
''',
}.items():
    os.makedirs(os.path.join(proj, app))
    open(os.path.join(proj, app, "__init__.py"), "w").close()
    with open(os.path.join(proj, app, "models.py"), "w") as f:
        f.write(models)
sys.path.insert(0, proj)

import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "accounts", "store"],
    AUTH_USER_MODEL="accounts.User",
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(proj, "db.sqlite3")}},
    USE_TZ=True,
    PASSWORD_HASHERS=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
        "django.contrib.auth.hashers.BCryptPasswordHasher",
        "django.contrib.auth.hashers.SHA1PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.UnsaltedSHA1PasswordHasher",
        "django.contrib.auth.hashers.UnsaltedMD5PasswordHasher",
    ],
)
django.setup()

from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.auth.models import Group, Permission  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402

call_command("migrate", run_syncdb=True, verbosity=0)

perm = lambda codename: Permission.objects.get(codename=codename)  # noqa: E731
managers = Group.objects.create(name="ProductManagers")
managers.permissions.set([perm("view_product"), perm("change_product"), perm("can_publish_product")])
viewers = Group.objects.create(name="Viewers")
viewers.permissions.set([perm("view_product")])
Group.objects.create(name="Empty")

# Cheap hashers for most users keep the script and the tests fast; the slow
# ones appear a few times each.
rotation = ["md5", "sha1", "unsalted_sha1", "unsalted_md5", "md5", "sha1", "pbkdf2_sha1"]
joined = timezone.datetime(2020, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
for n in range(210):
    hasher = rotation[n % len(rotation)]
    if n < 4:
        hasher = ["pbkdf2_sha256", "argon2", "bcrypt_sha256", "bcrypt"][n]
    pw = "pw-%d-secret" % n
    if hasher.startswith("unsalted"):
        from django.contrib.auth.hashers import get_hasher
        encoded = get_hasher(hasher).encode(pw, "")
    else:
        encoded = make_password(pw, hasher=hasher)
    u = User.objects.create(
        username="user%03d" % n, email="user%03d@example.com" % n, password=encoded,
        first_name="First%d" % n, last_name="Last%d" % n, department=["sales", "ops", ""][n % 3],
        employee_no=1000 + n, is_staff=(n % 50 == 0), date_joined=joined,
        last_login=joined if n % 2 else None,
    )
    if n % 3 == 0:
        u.groups.add(managers)
    if n % 5 == 0:
        u.groups.add(viewers)
    if n % 7 == 0:
        u.user_permissions.add(perm("add_product"))

User.objects.create(username="alice", email="alice@example.com", is_superuser=True, is_staff=True,
                    password=make_password("alice-old-password", hasher="pbkdf2_sha256"), date_joined=joined)
nopass = User(username="nopass", email="nopass@example.com", date_joined=joined)
nopass.set_unusable_password()
nopass.save()
User.objects.create(username="ghost", email="ghost@example.com", is_active=False,
                    password=make_password("ghost-password", hasher="md5"), date_joined=joined)

out = os.path.join(HERE, "django_dump.json")
call_command("dumpdata", "accounts.user", "auth.group", "auth.permission", "contenttypes",
             indent=1, output=out, verbosity=0)
with open(out, "rb") as src, gzip.open(out + ".gz", "wb") as dst:
    shutil.copyfileobj(src, dst)
shutil.rmtree(proj)
print("Django", django.get_version(), "->", out)
