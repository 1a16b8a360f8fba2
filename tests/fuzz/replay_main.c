/*
 * replay_main.c: run a fuzz target over every file of its seed corpus
 * when the build has no libFuzzer, so each target runs in every test pass.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_FILE_MAX (4 * 1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay_file(const char *path)
{
	FILE *f = NULL;
	uint8_t *buf = NULL;
	size_t n;
	int rc = -1;

	f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		goto out;
	}
	buf = malloc(REPLAY_FILE_MAX);
	if (buf == NULL) {
		goto out;
	}
	n = fread(buf, 1, REPLAY_FILE_MAX, f);
	LLVMFuzzerTestOneInput(buf, n);
	rc = 0;
out:
	free(buf);
	if (f != NULL) {
		fclose(f);
	}
	return rc;
}

int
main(int argc, char **argv)
{
	DIR *d = NULL;
	struct dirent *de;
	char path[4096];
	int count = 0;
	int rc = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		goto out;
	}
	d = opendir(argv[1]);
	if (d == NULL) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.') {
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
		if (replay_file(path) != 0) {
			goto out;
		}
		count++;
	}
	if (count == 0) {
		fprintf(stderr, "%s: empty corpus\n", argv[1]);
		goto out;
	}
	printf("replayed %d inputs\n", count);
	rc = 0;
out:
	if (d != NULL) {
		closedir(d);
	}
	return rc;
}
