-- PostgreSQL twin of db/migrations/sqlite/0003_membership_epoch.sql. The membership epoch: a
-- per-group counter moved on, in the same transaction, whenever someone stops being a member
-- (leave_group, remove_member). Every download ticket carries the group's epoch at issue.
ALTER TABLE groups ADD COLUMN member_epoch BIGINT NOT NULL DEFAULT 0;

-- Quotas count what an account owns and asks for (SECURITY.md, Limits).
CREATE INDEX groups_by_owner ON groups(owner_pk);
