/* HelloServer: a tiny stand-in for the TARS C++ example; prints a greeting and exits. */
#include <stdio.h>

int main(int argc, char **argv) {
    printf("HelloServer: hello from %s\n", argc > 0 ? argv[0] : "?");
    return 0;
}
