-- How a name typed on the sign-in form signs in by password (web/directory_signin.py): the local account of that
-- address, whether it has a password of its own (accounts made at a first sign-in elsewhere hold '!', which no
-- password matches), and the directories it is linked to.

-- name: by_email :one?
SELECT u.id,
       u.hashed_password <> '!' AS has_password,
       array(SELECT i.provider FROM user_identities i
             WHERE i.user_id = u.id AND i.provider LIKE 'ldap:%%' ORDER BY i.provider) AS directories
FROM users u
WHERE lower(u.email) = lower(%(email)s);
