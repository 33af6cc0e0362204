/* rpn: evaluates one reverse-Polish expression per input line, e.g. "3 4 + 2 *" prints 14.
 * Numbers are decimal (1, -2.5, 3e2); operators: + - * / and neg. Blank lines and lines
 * starting with '#' are skipped; an error prints "error: ..." and the next line goes on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STACK_MAX 64
#define LINE_MAX_LEN 4096

static int is_number(const char *tok, double *out) {
    int digits = 0;
    char *end = NULL;
    for (const char *p = tok; *p; p++) {
        if (strchr("0123456789", *p)) {
            digits++;
        } else if (!strchr(".eE+-", *p)) {
            return 0; /* strtod would also take hex, inf and nan: the reference does not */
        }
    }
    if (digits == 0) {
        return 0;
    }
    *out = strtod(tok, &end);
    return *end == '\0';
}

static void eval_line(char *line) {
    double stack[STACK_MAX];
    int depth = 0;
    for (char *tok = strtok(line, " \t\r\n"); tok; tok = strtok(NULL, " \t\r\n")) {
        double value;
        if (is_number(tok, &value)) {
            if (depth == STACK_MAX) {
                puts("error: stack overflow");
                return;
            }
            stack[depth++] = value;
            continue;
        }
        int unary = strcmp(tok, "neg") == 0;
        int binary = strlen(tok) == 1 && strchr("+-*/", tok[0]) != NULL;
        if (!unary && !binary) {
            printf("error: unknown token '%s'\n", tok);
            return;
        }
        if (depth < (unary ? 1 : 2)) {
            printf("error: stack underflow at '%s'\n", tok);
            return;
        }
        if (unary) {
            stack[depth - 1] = -stack[depth - 1];
            continue;
        }
        double b = stack[--depth];
        double a = stack[--depth];
        switch (tok[0]) {
        case '+': value = a + b; break;
        case '-': value = a - b; break;
        case '*': value = a * b; break;
        default:
            if (b == 0) {
                puts("error: division by zero");
                return;
            }
            value = a / b;
        }
        stack[depth++] = value;
    }
    if (depth == 1) {
        printf("%.10g\n", stack[0]);
    } else if (depth > 1) {
        printf("error: %d values left on the stack\n", depth);
    }
}

int main(void) {
    char line[LINE_MAX_LEN];
    while (fgets(line, sizeof line, stdin)) {
        size_t skip = strspn(line, " \t");
        if (line[skip] == '#' || line[skip] == '\n' || line[skip] == '\0') {
            continue;
        }
        eval_line(line);
    }
    return 0;
}
