"""Password hashes: a hash verifies its own password only, and a stored form that is not ours (a damaged row) is a
refused login, never an exception or an absurd amount of hashing."""

from __future__ import annotations

from tracker_server.passwords import PasswordHasher


async def test_a_hash_verifies_its_password_only() -> None:
    hasher = PasswordHasher(log2_n=10)
    stored = await hasher.hash("pässwörd-1")
    assert stored.startswith("scrypt$10$8$1$")
    assert await hasher.verify("pässwörd-1", stored)
    assert not await hasher.verify("pässwörd-2", stored)


async def test_a_damaged_stored_hash_refuses_the_login_instead_of_failing() -> None:
    hasher = PasswordHasher(log2_n=10)
    good = await hasher.hash("pw-1")
    scheme, n, r, p, salt, digest = good.split("$")
    for damaged in (f"{scheme}${n}${r}${p}${salt}$not-hex",  # was a 500: the digest was decoded outside the check
                    f"{scheme}${n}${r}${p}$zz${digest}",
                    f"{scheme}$40${r}${p}${salt}${digest}",  # 2^40: terabytes of memory asked for
                    f"{scheme}$-3${r}${p}${salt}${digest}",
                    f"bcrypt${n}${r}${p}${salt}${digest}",
                    "", "scrypt$only$three"):
        assert not await hasher.verify("pw-1", damaged), damaged
