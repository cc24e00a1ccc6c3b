/** The prebuilds system user: owner of every unclaimed prebuild, initiator of every reconciler build. */
export const PREBUILDS_SYSTEM_USER_ID = "c42fdf75-3097-471c-8c33-fb52454d81c0";
