/* privs.c - dropping capabilities after start-up; see privs.h. */
#include <errno.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "privs.h"

/*
 * The raw system calls: glibc has no wrapper, and libcap would be a
 * dependency for two calls. Version 3 takes two 32-bit words per set.
 */
static int caps_get(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};

	return syscall(SYS_capget, &hdr, data) ? -errno : 0;
}

static int caps_set(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};

	return syscall(SYS_capset, &hdr, data) ? -errno : 0;
}

/* The highest capability this kernel knows: the bounding set's size. */
static int last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int last = CAP_LAST_CAP;

	if (f) {
		if (fscanf(f, "%d", &last) != 1 || last < 0 || last > 63)
			last = CAP_LAST_CAP;
		fclose(f);
	}
	return last;
}

int privs__drop(uint64_t keep, uint64_t *missing)
{
	struct __user_cap_data_struct data[2];
	uint64_t have;
	int err, last = last_cap();

	*missing = 0;
	if ((err = caps_get(data)))
		return err;
	have = (uint64_t)data[1].permitted << 32 | data[0].permitted;
	*missing = keep & ~have;
	keep &= have;
	/*
	 * The bounding set first: dropping from it needs CAP_SETPCAP, which
	 * the capset below takes away. Without CAP_SETPCAP (a systemd unit
	 * whose CapabilityBoundingSet= left it out, and then limits the
	 * bounding set itself) it stays as it is: no_new_privs below keeps
	 * an exec from gaining anything from it anyway.
	 */
	for (int cap = 0; cap <= last; cap++) {
		if (keep & PRIVS_BIT(cap) ||
		    prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)) {
			if (errno != EPERM || have & PRIVS_BIT(CAP_SETPCAP))
				return -errno;
			break;
		}
	}
	/* Ambient capabilities would survive an exec: none. EINVAL: a
	 * kernel older than 4.3, which has none to clear. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) &&
	    errno != EINVAL)
		return -errno;
	for (int i = 0; i < 2; i++) {
		uint32_t word = (uint32_t)(keep >> (32 * i));

		data[i].effective = word;
		data[i].permitted = word;
		data[i].inheritable = 0;
	}
	if ((err = caps_set(data)))
		return err;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	return 0;
}
