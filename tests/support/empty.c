/* Keeps the support library non-empty. */
typedef int hr_test_support_empty;
