#!/usr/bin/python3
"""Writes django_vectors.json: one hash per Django hasher, made by Django itself.

Run with Debian's python3-django, python3-argon2 and python3-bcrypt:

    /usr/bin/python3 gen_django_vectors.py > django_vectors.json

Django 3.2 has no scrypt hasher, so scrypt hashes are made with hashlib.scrypt
exactly as Django 4.0's ScryptPasswordHasher.encode does (n=2**14, r=8, p=1,
a 64-byte key, base64 with padding, "scrypt$n$salt$r$p$key").
"""
import base64
import hashlib
import json
import sys

import django
from django.conf import settings

settings.configure(PASSWORD_HASHERS=[
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
    "django.contrib.auth.hashers.SHA1PasswordHasher",
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.UnsaltedSHA1PasswordHasher",
    "django.contrib.auth.hashers.UnsaltedMD5PasswordHasher",
])
django.setup()

from django.contrib.auth.hashers import check_password, get_hasher, make_password  # noqa: E402


def django4_scrypt(password, salt, n=2**14, r=8, p=1):
    key = hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=0, dklen=64)
    return "scrypt$%d$%s$%d$%d$%s" % (n, salt, r, p, base64.b64encode(key).decode("ascii").strip())


PASSWORDS = ["correct horse battery staple", "pässwörd-ünicode-€", "x"]
HASHERS = ["pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt",
           "sha1", "md5", "unsalted_sha1", "unsalted_md5"]

vectors = []
for name in HASHERS:
    hasher = get_hasher(name)
    for pw in PASSWORDS:
        if name == "bcrypt" and len(pw.encode()) > 72:
            continue
        if name.startswith("unsalted"):
            encoded = hasher.encode(pw, "")
        else:
            encoded = make_password(pw, hasher=name)
        assert check_password(pw, encoded), (name, pw)
        vectors.append({"hasher": name, "password": pw, "encoded": encoded})
for i, pw in enumerate(PASSWORDS):
    vectors.append({"hasher": "scrypt", "password": pw, "encoded": django4_scrypt(pw, "scryptsalt%d" % i)})
vectors.append({"hasher": "unusable", "password": "", "encoded": make_password(None)})

json.dump({"django_version": django.get_version(), "vectors": vectors}, sys.stdout, indent=1, ensure_ascii=False)
sys.stdout.write("\n")
