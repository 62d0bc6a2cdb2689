/*
 * test_config.c - the defaults of the settings snapshot (INTERFACE.md,
 * limits.h), the string lists it holds, the fanout mode names, and the
 * value helpers the command lines share.
 */
#include <sched.h>

#include "dlp_test.h"

#include "dlp/config.h"
#include "dlp/limits.h"

static void defaults(void **state)
{
    dlp_config_t c;
    dlp_cidr_t a;

    (void)state;
    assert_int_equal(dlp_config_init(&c), DLP_OK);
    assert_true(c.workers >= 1);
    assert_int_equal(c.syslog, -1);
    assert_null(c.json_path);
    assert_int_equal(c.home_net.n, 4);
    for (const char *in = "10.9.8.7"; in; in = NULL) {
        assert_int_equal(dlp_cidr_parse(in, &a), DLP_OK);
        assert_true(dlp_cidr_set_contains(&c.home_net, a.addr));
    }
    assert_int_equal(dlp_cidr_parse("172.31.0.1", &a), DLP_OK);
    assert_true(dlp_cidr_set_contains(&c.home_net, a.addr));
    assert_int_equal(dlp_cidr_parse("fd00::1", &a), DLP_OK);
    assert_true(dlp_cidr_set_contains(&c.home_net, a.addr));
    assert_int_equal(dlp_cidr_parse("8.8.8.8", &a), DLP_OK);
    assert_false(dlp_cidr_set_contains(&c.home_net, a.addr));
    assert_int_equal(c.flow_memcap, DLP_FLOW_MEMCAP);
    assert_int_equal(c.flow_timeout_us[1], DLP_FLOW_TIMEOUT_TCP_EST_US);
    assert_int_equal(c.reasm_retain_bytes, DLP_REASM_RETAIN_BYTES);
    assert_true(c.vlan_in_key);
    assert_int_equal(c.fanout_mode, DLP_FANOUT_IPPAIR);
    assert_int_equal(c.file_readers, DLP_FILE_READERS_AUTO);
    dlp_config_fini(&c);
}

static void string_lists(void **state)
{
    dlp_strv_t sv = {0};

    (void)state;
    assert_int_equal(dlp_strv_push(&sv, "a.pcap"), DLP_OK);
    assert_int_equal(dlp_strv_push(&sv, "b.pcap"), DLP_OK);
    assert_int_equal(sv.n, 2);
    assert_string_equal(sv.v[1], "b.pcap");
    assert_true(dlp_strv_has(&sv, "b.pcap"));
    assert_false(dlp_strv_has(&sv, "b.pcap "));
    dlp_strv_fini(&sv);
    assert_false(dlp_strv_has(&sv, "a.pcap"));
    assert_int_equal(sv.n, 0);
    assert_null(sv.v);
}

/* One table both ways: every name parses to the mode that prints as it. */
static void fanout_names(void **state)
{
    dlp_fanout_mode_t m = DLP_FANOUT_IPPAIR;

    (void)state;
    assert_int_equal(dlp_config_parse_fanout("hash", &m), DLP_OK);
    assert_int_equal(m, DLP_FANOUT_HASH);
    assert_string_equal(dlp_config_fanout_name(m), "hash");
    assert_int_equal(dlp_config_parse_fanout("ippair", &m), DLP_OK);
    assert_int_equal(m, DLP_FANOUT_IPPAIR);
    assert_string_equal(dlp_config_fanout_name(m), "ippair");
    for (const char *const *s = (const char *const[]){"flow", "HASH", "", "hash ", NULL}; *s;
         s++)
        assert_int_equal(dlp_config_parse_fanout(*s, &m), DLP_EINVAL);
    assert_int_equal(m, DLP_FANOUT_IPPAIR); /* untouched by a bad name */
}

static void file_readers_names(void **state)
{
    static const char *const names[] = {"auto", "one", "each"};
    static const dlp_file_readers_t values[] = {DLP_FILE_READERS_AUTO, DLP_FILE_READERS_ONE,
                                                DLP_FILE_READERS_EACH};
    dlp_file_readers_t r = DLP_FILE_READERS_ONE;

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(dlp_config_parse_file_readers(names[i], &r), DLP_OK);
        assert_int_equal(r, values[i]);
    }
    assert_int_equal(r, DLP_FILE_READERS_EACH);
    assert_int_equal(dlp_config_parse_file_readers("ONE", &r), DLP_EINVAL);
    assert_int_equal(dlp_config_parse_file_readers(NULL, &r), DLP_EINVAL);
    assert_int_equal(r, DLP_FILE_READERS_EACH);
}

/* The command lines' value helpers (main's options, rules test -r). */
static void cli_uint(void **state)
{
    unsigned v = 7;

    (void)state;
    assert_int_equal(dlp_config_parse_uint("0", 0, 10, &v), DLP_OK);
    assert_int_equal(v, 0);
    assert_int_equal(dlp_config_parse_uint("256", 1, 256, &v), DLP_OK);
    assert_int_equal(v, 256);
    for (const char *const *s =
             (const char *const[]){"", "-1", "257", "0", "1x", "x", "99999999999999999999", NULL};
         *s; s++)
        assert_int_equal(dlp_config_parse_uint(*s, 1, 256, &v), DLP_EINVAL);
    assert_int_equal(v, 256); /* untouched by a bad value */
}

/* A sign after leading blanks is still a sign: strtoul negates " -18446744073709551615" to 1. */
static void cli_uint_sign_after_blanks(void **state)
{
    unsigned v = 7;

    (void)state;
    assert_int_equal(dlp_config_parse_uint(" -18446744073709551615", 1, 256, &v), DLP_EINVAL);
    assert_int_equal(dlp_config_parse_uint(" -0", 0, 65535, &v), DLP_EINVAL);
    assert_int_equal(dlp_config_parse_uint("\t-5", 0, 86400, &v), DLP_EINVAL);
    assert_int_equal(v, 7);
}

/* "auto" and the default: the CPUs it may run on, but never more threads than a flag may ask for. */
static void auto_workers_bounded(void **state)
{
    (void)state;
    assert_int_equal(dlp_config_auto_workers(-1), 1); /* sysconf failed */
    assert_int_equal(dlp_config_auto_workers(0), 1);
    assert_int_equal(dlp_config_auto_workers(2), 2);
    assert_int_equal(dlp_config_auto_workers(DLP_CONFIG_THREADS_MAX), DLP_CONFIG_THREADS_MAX);
    assert_int_equal(dlp_config_auto_workers(384), DLP_CONFIG_THREADS_MAX);
}

/*
 * The default worker count is the CPUs the process may run on (taskset, a
 * cgroup cpuset), as the runtime counts them to choose who reads the files:
 * the online CPUs of the host made dozens of workers on a process pinned
 * to one, each then reading the whole input (--file-readers auto).
 */
static void default_workers_follow_affinity(void **state)
{
    cpu_set_t old, one;
    dlp_config_t c;
    int cpu = sched_getcpu();

    (void)state;
    assert_int_equal(sched_getaffinity(0, sizeof(old), &old), 0);
    CPU_ZERO(&one);
    CPU_SET(cpu >= 0 ? cpu : 0, &one);
    assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
    assert_int_equal(dlp_config_init(&c), DLP_OK);
    assert_int_equal(sched_setaffinity(0, sizeof(old), &old), 0);
    assert_int_equal(c.workers, 1);
    dlp_config_fini(&c);
    assert_int_equal(dlp_config_cpus(), (unsigned)CPU_COUNT(&old));
}

static void cli_str_and_home_net(void **state)
{
    dlp_config_t c;
    const char *bad = NULL;
    dlp_cidr_t a;

    (void)state;
    assert_int_equal(dlp_config_init(&c), DLP_OK);
    assert_int_equal(dlp_config_set_str(&c.json_path, "a.json"), DLP_OK);
    assert_int_equal(dlp_config_set_str(&c.json_path, "b.json"), DLP_OK);
    assert_string_equal(c.json_path, "b.json");
    assert_int_equal(dlp_config_set_str(&c.json_path, NULL), DLP_OK);
    assert_null(c.json_path);
    /* a list replaces the default, it is not added to it */
    assert_int_equal(dlp_config_set_home_net(&c, "192.0.2.0/24", &bad), DLP_OK);
    assert_int_equal(c.home_net.n, 1);
    assert_int_equal(dlp_cidr_parse("10.1.1.1", &a), DLP_OK);
    assert_false(dlp_cidr_set_contains(&c.home_net, a.addr));
    assert_int_equal(dlp_config_set_home_net(&c, "10.0.0.0/8,nope", &bad), DLP_EINVAL);
    assert_non_null(bad);
    assert_string_equal(bad, "nope");
    dlp_config_fini(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(string_lists),
        cmocka_unit_test(fanout_names),
        cmocka_unit_test(file_readers_names),
        cmocka_unit_test(cli_uint),
        cmocka_unit_test(auto_workers_bounded),
        cmocka_unit_test(default_workers_follow_affinity),
        cmocka_unit_test(cli_uint_sign_after_blanks),
        cmocka_unit_test(cli_str_and_home_net),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
