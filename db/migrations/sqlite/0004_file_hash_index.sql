-- upload_file asks whether an info hash is already shared in another group (proof of
-- possession, SECURITY.md) and counts the files an account added (quotas): both by index, not by
-- reading every file.
CREATE INDEX files_by_info_hash ON files(info_hash);
