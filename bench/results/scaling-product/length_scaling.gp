set terminal pngcairo size 800,600 noenhanced
set output 'bench/results/scaling-product/length_scaling.png'
set title "product: chord product, B 32, D 32, L 17, forward + backward\nAMD EPYC, kernels avx512"
set grid
set logscale x 2
set logscale y 10
set format y '%g'
set xlabel 'sequence length N'
set ylabel 'seconds per repetition (median)'
set key top left
n0 = 1024
t0 = 0.000919041
nlogn(x) = t0 * x * log(x) / (n0 * log(n0))
quadratic(x) = t0 * (x / n0)**2
set xrange [1024:65536]
set samples 100
plot nlogn(x) with lines dashtype 2 lc 'gray40' title 'N log N', quadratic(x) with lines dashtype 3 lc 'gray40' title 'N^2', 'bench/results/scaling-product/scaling.dat' index 4 using 1:2 with linespoints title '1 thread', 'bench/results/scaling-product/scaling.dat' index 5 using 1:2 with linespoints title '2 threads'
