# zipf.awk: writes COUNT dnsperf query lines drawn from the input lines
# ("qname qtype", one per line, taken in a shuffled order) with a Zipf
# distribution of exponent S: the name of rank k is drawn with probability
# proportional to 1/k^S. Deterministic for a given SEED.
#   awk -v COUNT=100000 -v S=0.9 -v SEED=1 -f zipf.awk names.txt > queries.txt
BEGIN { if (COUNT == "") COUNT = 100000; if (S == "") S = 0.9; if (SEED == "") SEED = 1 }
{ name[NR] = $0 }
END {
	n = NR
	srand(SEED)
	# shuffle, so that rank does not follow zone order
	for (i = n; i > 1; i--) { j = int(rand() * i) + 1; t = name[i]; name[i] = name[j]; name[j] = t }
	total = 0
	for (k = 1; k <= n; k++) { total += 1 / (k ^ S); cum[k] = total }
	for (q = 0; q < COUNT; q++) {
		r = rand() * total
		lo = 1; hi = n
		while (lo < hi) { mid = int((lo + hi) / 2); if (cum[mid] < r) lo = mid + 1; else hi = mid }
		print name[lo]
	}
}
