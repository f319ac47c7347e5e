set terminal pngcairo size 800,600 noenhanced
set output 'bench/results/scaling-mra/length_scaling.png'
set title "mra: MRA-2 attention (8 blocks per row, block 32), 16 batch-heads, d 32, forward + backward\nAMD EPYC, kernels avx512"
set grid
set logscale x 2
set logscale y 10
set format y '%g'
set xlabel 'sequence length N'
set ylabel 'seconds per repetition (median)'
set key top left
n0 = 1024
t0 = 0.0128238
nlogn(x) = t0 * x * log(x) / (n0 * log(n0))
quadratic(x) = t0 * (x / n0)**2
set xrange [1024:16384]
set samples 100
plot nlogn(x) with lines dashtype 2 lc 'gray40' title 'N log N', quadratic(x) with lines dashtype 3 lc 'gray40' title 'N^2', 'bench/results/scaling-mra/scaling.dat' index 3 using 1:2 with linespoints title '1 thread', 'bench/results/scaling-mra/scaling.dat' index 4 using 1:2 with linespoints title '2 threads'
