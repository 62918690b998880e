"""Generate django_vectors.json: the messages Django 3.2's default password
validators give for a set of passwords and users.

The validator code below is Django 3.2.25's django/contrib/auth/
password_validation.py (BSD-3-Clause, Django Software Foundation), reduced to
what runs without settings: the same difflib quick_ratio, the same re.split,
the same list (common-passwords.txt.gz beside this package). Run:

    python3 passwordpolicy/testdata/gen_vectors.py > passwordpolicy/testdata/django_vectors.json
"""
import gzip
import json
import os
import re
from difflib import SequenceMatcher

HERE = os.path.dirname(os.path.abspath(__file__))
VERBOSE = {"username": "username", "first_name": "first name", "last_name": "last name", "email": "email address"}

with gzip.open(os.path.join(HERE, "..", "common-passwords.txt.gz"), "rt", encoding="utf-8") as f:
    COMMON = {x.strip() for x in f}


def exceeds_maximum_length_ratio(password, max_similarity, value):
    pwd_len = len(password)
    length_bound_similarity = max_similarity / 2 * pwd_len
    value_len = len(value)
    return pwd_len >= 10 * value_len and value_len < length_bound_similarity


def similarity(password, user, max_similarity=0.7, attributes=("username", "first_name", "last_name", "email")):
    if not user:
        return []
    password = password.lower()
    for attribute_name in attributes:
        value = user.get(attribute_name)
        if not value or not isinstance(value, str):
            continue
        value_lower = value.lower()
        value_parts = re.split(r"\W+", value_lower) + [value_lower]
        for value_part in value_parts:
            if exceeds_maximum_length_ratio(password, max_similarity, value_part):
                continue
            if SequenceMatcher(a=password, b=value_part).quick_ratio() >= max_similarity:
                return ["The password is too similar to the %s." % VERBOSE.get(attribute_name, attribute_name)]
    return []


def minimum_length(password, min_length=8):
    if len(password) < min_length:
        if min_length == 1:
            return ["This password is too short. It must contain at least %d character." % min_length]
        return ["This password is too short. It must contain at least %d characters." % min_length]
    return []


def common(password):
    return ["This password is too common."] if password.lower().strip() in COMMON else []


def numeric(password):
    return ["This password is entirely numeric."] if password.isdigit() else []


def validate(password, user):
    return similarity(password, user) + minimum_length(password) + common(password) + numeric(password)


USERS = [
    {"username": "testclient", "email": "testclient@example.com", "first_name": "Test", "last_name": "Client"},
    {"username": "alice", "email": "alice.liddell@wonder.land", "first_name": "Alice", "last_name": "Liddell"},
    {"username": "j.doe_42", "email": "", "first_name": "Jöhn", "last_name": "Doe-Smith"},
    {"username": "bob"},
    {},
]
PASSWORDS = [
    "", "1", "1234567", "12345678", "123456789012", "password", "Password", " password ", "PASSWORD1",
    "testclient", "example.com", "client", "tclient", "Testclient1", "testclient@example.com",
    "alice", "alice1234", "wonderland", "liddell", "liddellalice", "Alice.Liddell",
    "j.doe_42", "jdoe42", "doesmith", "jöhn doe", "JÖHNJÖHN", "doe",
    "bob", "bobbobbob", "correct horse battery staple", "Tr0ub4dor&3", "qwertyuiop", "letmein",
    "iloveyou", "zxcvbnm", "abcdefgh", "a", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "٣٤٥٦٧٨٩٠", "p@ssw0rd", "sunshine1", "football", "dragon", "s3cure-Pa55phrase!", "xK9#mQ2$vL",
    "testclientexample", "clienttest", "estclien", "tset", "clients", "examplecom",
]


def main():
    cases = []
    for user in USERS:
        for password in PASSWORDS:
            cases.append({"password": password, "user": user, "messages": validate(password, user)})
    json.dump({"source": "Django 3.2.25 password_validation.py, default AUTH_PASSWORD_VALIDATORS", "cases": cases},
              fp=__import__("sys").stdout, ensure_ascii=False, indent=1)
    print()


if __name__ == "__main__":
    main()
