/* log: one-line log records to stderr, plain or JSON.
 *
 * Plain:  2026-11-25T20:43:43.123Z info collector[0] pid=123: message
 * JSON:   {"ts":"...","level":"info","proc":"collector[0]","pid":123,"msg":"..."}
 * Safe to call from any thread; not from signal handlers.
 */
#ifndef MCS_LOG_H
#define MCS_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Sets the process name shown in every line and the format (json != 0). */
void log_init(const char *proc, int json);
void log_set_level(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
