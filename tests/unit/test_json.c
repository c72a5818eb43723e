/* test_json.c: the JSON writer: nesting, commas, escapes, non-finite numbers, overflow */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/json.h"

#include <math.h>
#include <string.h>

static void test_object(void **state)
{
	char buf[256];
	struct json j;
	json_init(&j, buf, sizeof(buf));
	json_obj_begin(&j);
	json_kstr(&j, "name", "www.example.");
	json_ku64(&j, "n", 18446744073709551615ull);
	json_ki64(&j, "neg", -5);
	json_knum(&j, "score", 1.5, 3);
	json_kbool(&j, "ok", 1);
	json_key(&j, "list");
	json_arr_begin(&j);
	json_u64(&j, 1);
	json_u64(&j, 2);
	json_obj_begin(&j);
	json_obj_end(&j);
	json_arr_end(&j);
	json_obj_end(&j);
	assert_true(json_finish(&j) > 0);
	assert_string_equal(buf, "{\"name\":\"www.example.\",\"n\":18446744073709551615,\"neg\":-5,"
				 "\"score\":1.500,\"ok\":true,\"list\":[1,2,{}]}");
}

static void test_escapes(void **state)
{
	char buf[256];
	struct json j;
	json_init(&j, buf, sizeof(buf));
	json_str(&j, "a\"b\\c\n\x01\x7f\xc3\xa9");
	assert_true(json_finish(&j) > 0);
	assert_string_equal(buf, "\"a\\\"b\\\\c\\u000a\\u0001\\u007f\\u00c3\\u00a9\"");
	char esc[8];
	json_escape(esc, sizeof(esc), "ab\ncd");
	/* stops before an escape that does not fit, never in its middle */
	assert_string_equal(esc, "ab");
}

static void test_non_finite(void **state)
{
	char buf[128];
	struct json j;
	json_init(&j, buf, sizeof(buf));
	json_arr_begin(&j);
	json_num(&j, INFINITY, 3);
	json_num(&j, -INFINITY, 3);
	json_num(&j, NAN, 3);
	json_num(&j, -0.0, 1);
	json_num(&j, 1e300, 2);
	json_arr_end(&j);
	assert_true(json_finish(&j) > 0);
	assert_non_null(strstr(buf, "[null,null,null,0.0,"));
	assert_null(strstr(buf, "inf"));
	assert_null(strstr(buf, "nan"));
}

static void test_overflow_and_balance(void **state)
{
	char buf[8];
	struct json j;
	json_init(&j, buf, sizeof(buf));
	json_obj_begin(&j);
	json_kstr(&j, "key", "a long value");
	json_obj_end(&j);
	assert_int_equal(json_finish(&j), -1);
	assert_string_equal(buf, "");

	char big[64];
	json_init(&j, big, sizeof(big));
	json_obj_begin(&j);
	assert_int_equal(json_finish(&j), -1); /* unbalanced */
	json_init(&j, big, sizeof(big));
	json_obj_end(&j);
	assert_int_equal(json_finish(&j), -1);
	json_init(&j, big, sizeof(big));
	for (int i = 0; i < JSON_MAX_DEPTH + 1; i++)
		json_arr_begin(&j);
	assert_int_equal(json_finish(&j), -1); /* too deep */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_object),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_non_finite),
		cmocka_unit_test(test_overflow_and_balance),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
